"""Coordination: the coordinators' queues, discharge from hospital with SIP, follow-up figures.

Discharge and the coordinated individual plan (SIP) got their own app, not a place in
`contracts/`: DESIGN.md says apps own their data, and this data is a flow between
principals (region and municipality) with its own deadlines under Lag (2017:612),
not a part of the patient contract. An admission and its notices exist whether or
not the patient has a plan; the plan only gains a fixed care contact from it.
"""
