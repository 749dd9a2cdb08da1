"""Reliability on the team topology (issue 13, section 6): gitreg against a smart-HTTP git server with
its pre-receive hook and a giftless LFS server on 127.0.0.1, under concurrent writers, SIGKILLed
pushes and a server stopped mid-pull. Bounded in time and loops; every test is ``slow`` and ``http``.
Shared pieces are in :mod:`tests.reliability.team`; :mod:`tests.reliability.slowlink` slows LFS
downloads so that a fault lands mid-transfer.
"""
