"""revline.ingest: real exports (Salesforce, Fivetran copies, HubSpot, Segment, spend, targets,
revline dumps) into the one-roof store, with validation, quarantine and channel grouping.

Entry point: `load_files(con, paths, fmt="auto") -> IngestReport`.
"""

from revline.ingest.detect import DetectionError, detect
from revline.ingest.loader import load_files
from revline.ingest.report import IngestReport, TableCount

__all__ = ["load_files", "IngestReport", "TableCount", "detect", "DetectionError"]
