"""What the public reaches without signing in: the web form (/report), following a request (/follow), and the
question that keeps scripts out of both."""
