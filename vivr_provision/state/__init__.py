"""Provisioning state: the data model and the local JSON file store that persists it."""

from vivr_provision.state.model import SCHEMA_VERSION, State, StepRecord, StepStatus, utc_now
from vivr_provision.state.store import LocalStateStore

__all__ = ["SCHEMA_VERSION", "LocalStateStore", "State", "StepRecord", "StepStatus", "utc_now"]
