"""The domain functions the Lambda handlers call (one per step), shared with the local cloud
runner and, for review, the agent's review page. Importing this package imports nothing heavy."""
