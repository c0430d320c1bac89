"""Operator alerts: conditions read from the catalog, told over webhooks and email.

The alerter is its own loop over the catalog (``jxdaq alerts run``, or a thread of ``jxdaq
serve``): workers never wait on a receiver, a slow one or a dead one.
"""
