"""vivr-provision: ordered, resumable boto3 provisioning of the VIVR AWS platform."""

__version__ = "0.1.0"
