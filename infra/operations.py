"""Operations: alarms to an encrypted SNS topic, and the stack outputs the agent needs."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Fn
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import YomitoriConfig


class Operations(Construct):
    """Exposes ``topic`` and ``alarms`` (by name)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: YomitoriConfig,
        key: kms.IKey,
        state_machine: sfn.StateMachine,
        dlq: sqs.IQueue,
        functions: dict[str, lambda_.Function],
    ) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(
            self, "AlarmTopic", master_key=key, enforce_ssl=True, display_name="yomitori alarms"
        )
        if config.alarm_email:
            self.topic.add_subscription(subs.EmailSubscription(config.alarm_email))
        action = cw_actions.SnsAction(self.topic)
        five_min = Duration.minutes(5)
        metrics: dict[str, cw.Metric] = {
            "ExecutionsFailed": state_machine.metric_failed(period=five_min),
            "ExecutionsTimedOut": state_machine.metric_timed_out(period=five_min),
            "ExecutionsAborted": state_machine.metric_aborted(period=five_min),
            "ExecutionThrottled": state_machine.metric_throttled(period=five_min),
            "TriggerDlqDepth": dlq.metric_approximate_number_of_messages_visible(
                period=five_min, statistic="Maximum"
            ),
        }
        for name, fn in functions.items():
            metrics[f"{name.capitalize()}Errors"] = fn.metric_errors(period=five_min)
            metrics[f"{name.capitalize()}Throttles"] = fn.metric_throttles(period=five_min)
        self.alarms: dict[str, cw.Alarm] = {}
        for name, metric in metrics.items():
            alarm = cw.Alarm(
                self,
                name,
                metric=metric,
                threshold=0,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"yomitori: {name} above 0 (see docs/deploy.md, Alarms)",
            )
            alarm.add_alarm_action(action)
            self.alarms[name] = alarm


def endpoint_dns_name(endpoint) -> str:
    """The regional DNS name of an interface endpoint ("Z...:vpce-....amazonaws.com" -> name)."""
    return Fn.select(1, Fn.split(":", Fn.select(0, endpoint.vpc_endpoint_dns_entries)))


def add_outputs(scope: Construct, values: dict[str, str]) -> None:
    for name, value in values.items():
        CfnOutput(scope, name, value=value)
