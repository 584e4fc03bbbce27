"""Ephemeral GPU runners: one cloud instance per workflow job, gone after it.

`start` launches an EC2 instance registered as a single-use GitHub runner
(just-in-time config), `stop` terminates a run's instances found by tag,
`janitor` sweeps what a cancelled or crashed workflow left behind, `cost`
prices a run.

Every instance carries an on-host hard limit (`shutdown -h +N` with
instance-initiated shutdown behaviour `terminate`), so it goes away even if
GitHub, this toolkit and the janitor are all unreachable.
"""

from __future__ import annotations

TAG_PREFIX = "modelops:"
TAG_REPOSITORY = "modelops:repository"
TAG_RUN_ID = "modelops:run-id"
TAG_RUN_ATTEMPT = "modelops:run-attempt"
TAG_JOB = "modelops:job"
TAG_EXPIRES_AT = "modelops:expires-at"
TAG_LABEL = "modelops:label"
TAG_MARKET = "modelops:market"

# Instances in these states still cost money or may start to; everything the
# toolkit terminates is looked up in them.
LIVE_STATES = ("pending", "running", "stopping", "stopped")
