"""Code that runs in AWS rather than in this tool: Lambda functions the steps deploy.

Each module here is a whole deployment package: standard library and boto3 only.
"""
