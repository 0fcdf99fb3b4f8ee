"""HJ 212-2017/2005: the codec, frames into records, the TCP session and gateway, split packets."""
