"""The shell: the `hotline` command, the wiring that runs the services together, the sandbox Asterisk with
its phones, and the simulated caller. It stands on every other package; none of them imports it."""
