"""Helpers the tests share: what more than one test module needs lives here, so no test module imports
another."""
