"""yomitori-agent: the on-premises agent (scanner PC, external PC, contract server).

It moves batches between the offices and the cloud as age-encrypted packages and hands
results to the core system. It depends on the domain package ``yomitori``; the domain never
imports it. See docs/agent.md.
"""

__version__ = "0.1.0"
