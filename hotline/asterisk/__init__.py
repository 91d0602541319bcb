"""The contract between Asterisk and the hotline's code: the names both sides use (channel variables,
endpoints, queues, the AMI events the bridge follows) and the configuration that gives them to Asterisk.
Declared here once, so the dialplan, the bridge and the web app cannot drift apart."""
