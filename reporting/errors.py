"""Messages the reports show or answer with."""

REPORT_NOT_ALLOWED = "You may not open the {family} reports."
REPORTS_NOT_ALLOWED = "You may not open any report."
UNKNOWN_REPORT = "There is no report called {family}."
DATES_REVERSED = "The end date is before the start date."
EXPORT_FORMAT = "Export as csv or xlsx."
