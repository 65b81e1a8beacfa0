"""tanpo's operations desk in the browser: a live dashboard acting as one participant.

`tanpo dashboard --as bank-a` serves it on 127.0.0.1. Every figure is read through the SDK as
that identity, so a page never shows what the chaincode refuses to it; one chaincode event stream
(with a checkpoint) tells open pages to re-read when a transaction commits.
"""
