"""Async core library for operating VPC peerings; imports no UI."""
