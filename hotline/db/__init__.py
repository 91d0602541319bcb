"""The database: cases (one per call), their timelines, and case numbers. SQLAlchemy 2, async."""
