"""Reports rendered from the run journal: canonical JSON record, HTML, attachments."""
