"""Staff pages of the invitations app: codes (`codes`) and participants (`participants`)."""
