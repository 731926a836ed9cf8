"""revline.ingest"""
