"""The only place that imports SQLAlchemy: tables, stores, the unit of work, error translation."""
