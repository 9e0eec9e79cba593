"""A backup's exported record (Cinder's export_record/import_record): the backup's row as
base64 JSON under the backup service's name, so another cloud (or this one, after the row
was lost) can import the backup whose objects are in the object store."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from onestack.db.models.volume_backup import Backup
from onestack.errors import BadRequest

SERVICE = "cinder.backup.drivers.swift.SwiftBackupDriver"
REQUIRED = ("project_id", "user_id", "volume_id", "size", "container", "object_prefix")
FIELDS = ("id", *REQUIRED, "snapshot_id", "parent_id", "name", "description",
          "is_incremental", "object_count", "stored_bytes", "availability_zone", "meta")


def encode(row: Backup) -> dict[str, str]:
    fields = {k: getattr(row, k) for k in FIELDS}
    fields["project_id"] = row.objects_project_id or row.project_id  # where the objects are
    fields["data_timestamp"] = row.data_timestamp.isoformat()
    url = base64.b64encode(json.dumps(fields).encode()).decode()
    return {"backup_service": SERVICE, "backup_url": url}


def decode(record: Any) -> dict[str, Any]:
    """The fields of an exported record; 400 naming the field when it is not one."""
    if not isinstance(record, dict):
        raise BadRequest("Invalid input for field/attribute backup-record: it must be an "
                         "object")
    service, url = record.get("backup_service"), record.get("backup_url")
    if service != SERVICE:
        raise BadRequest(f"Invalid input for field/attribute backup_service. Value: "
                         f"{service}. Unsupported backup service (this cloud has {SERVICE})")
    try:
        fields = json.loads(base64.b64decode(str(url), validate=True))
        if not isinstance(fields, dict) or not all(k in fields for k in ("id", *REQUIRED)):
            raise ValueError("fields missing")
        int(fields["size"])
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadRequest("Invalid input for field/attribute backup_url: it is not a backup "
                         "record this cloud exported") from exc
    return fields
