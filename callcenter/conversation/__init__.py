"""The operator's conversation with the caller, transcribed live (opt-in: CALLCENTER_LIVE_CONVERSATION)."""
