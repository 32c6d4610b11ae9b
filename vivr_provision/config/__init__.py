"""Typed platform config: pydantic models, YAML loading, cross-field validation."""

from vivr_provision.config.loader import load_config, parse_config
from vivr_provision.config.model import PlatformConfig
from vivr_provision.environments import ENVIRONMENTS

__all__ = ["ENVIRONMENTS", "PlatformConfig", "load_config", "parse_config"]
