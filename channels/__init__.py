"""The ways citizens write to the hotline and are told of their answer, beside the phone: e-mail (IMAP in,
SMTP out) and the outbox that sends every message to a citizen with retries."""
