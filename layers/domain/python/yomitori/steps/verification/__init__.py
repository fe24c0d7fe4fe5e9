"""Double entry (ベリファイ) of the fields a form marks ``verify``: My Numbers, account numbers,
money amounts. A validator cannot catch a confident misread that is still a valid value (an
amount read 20000 -> 20009); a second person typing the field again, blind, does.

* The **first entry** is the field's value after review: the reader's value when it was
  accepted (``first_by`` = ``reader``), or what the reviewer confirmed or typed (their name).
* The **second entry** is typed by a ``verifier`` who sees the crop only, never the read
  value nor the first entry, and who did not make the first entry.
* Equal entries: the field is ``verified``. Different: a **third person** (a supervisor, or a
  verifier who typed neither entry) sees the crop and both entries and decides the value.
* The batch's review gate is released only when every double entry is finished
  (:func:`settle`, called by :func:`yomitori.steps.review._release`), and then the outcome
  (who typed which entry, who decided) is written into the field's result.

The review store holds the tasks (states and names, never a value). A second entry that
differs waits for the decision in the results area beside the document
(:func:`entry_key`); the decision replaces it with the final value. Audit records (VERIFY:
match or mismatch, DECIDE: which entry was kept) carry no value either.

Double entry is switched on by ``YOMITORI_DOUBLE_ENTRY=on`` (it needs people with the
verifier role, see :mod:`yomitori.access`); a form's ``verify`` marks do nothing without it.

The modules, by job: :mod:`.plan` (which fields, and when their tasks open), :mod:`.rights`
(who may do what), :mod:`.queue` (what is left, leases), :mod:`.entries` (second entry and
decision), :mod:`.stored` (where an entry waits), :mod:`.gate` (release and the outcome in the
results). Callers import from here.
"""

from yomitori.steps.verification.entries import both_entries, decide, second_entry
from yomitori.steps.verification.gate import release_when_done, settle
from yomitori.steps.verification.plan import (
    ENV_DOUBLE_ENTRY,
    READER,
    after_review,
    enabled,
    fields_to_verify,
    plan,
)
from yomitori.steps.verification.queue import lease_next, queue
from yomitori.steps.verification.rights import (
    DECIDE,
    PURPOSE_VERIFY,
    SECOND,
    SamePerson,
    VerifyNotOpen,
    audit_crop_view,
    check_may,
    find_task,
    may_verify_or_decide,
    work_for,
)
from yomitori.steps.verification.stored import entry_key

__all__ = [
    "DECIDE",
    "ENV_DOUBLE_ENTRY",
    "PURPOSE_VERIFY",
    "READER",
    "SECOND",
    "SamePerson",
    "VerifyNotOpen",
    "after_review",
    "audit_crop_view",
    "both_entries",
    "check_may",
    "decide",
    "enabled",
    "entry_key",
    "fields_to_verify",
    "find_task",
    "lease_next",
    "may_verify_or_decide",
    "plan",
    "queue",
    "release_when_done",
    "second_entry",
    "settle",
    "work_for",
]
