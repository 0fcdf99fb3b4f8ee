"""All SQL of the compliance package, in one package split by subject. Functions take a connection and
never commit: the caller (an ingest batch, a job, a request) owns the transaction. Rows come back as
frozen dataclasses."""

from compliance.repo.alerts import *  # noqa: F403
from compliance.repo.channels import *  # noqa: F403
from compliance.repo.inbox import *  # noqa: F403
from compliance.repo.registry import *  # noqa: F403
from compliance.repo.windows import *  # noqa: F403
