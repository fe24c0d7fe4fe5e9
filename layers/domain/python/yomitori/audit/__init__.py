"""The audit trail people can read and trust: the hash chain (:mod:`.chain`), reading and
filtering it (:mod:`.report`), where it is read from (:mod:`.sources`) and the retention copy
of a finished batch's trail (:mod:`.archive`). See docs/audit.md."""
