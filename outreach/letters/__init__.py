"""Letters and postcards: print batches of the queued post reminders.

- `columns`: the print CSV a vendor or a label printer takes as it is (Japanese headers,
  human values, UTF-8 or CP932);
- `pdf`: the same letters as printable A4 pages (ReportLab with Debian's IPA fonts);
- `batches`: which letters go in which batch (each exactly once), the files, and staff's
  confirmation that a batch went to print (the outbox marks its entries `printed`).
"""
