"""The declarations of API v1: what each route takes and answers; they validate requests and write the document."""
