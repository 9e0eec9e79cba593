"""All tables; one module per service."""

from onestack.db.models.audit import AuditRecord  # noqa: F401  (audit trail)
from onestack.db.models.base import Base
from onestack.db.models.compute import Flavor  # noqa: F401  (compute tables)
from onestack.db.models.console import ConsoleToken  # noqa: F401  (console tokens)
from onestack.db.models.identity import (
    AppCredRole,
    ApplicationCredential,
    Assignment,
    Credential,
    Domain,
    Endpoint,
    Group,
    GroupMembership,
    ImpliedRole,
    Password,
    Project,
    ProjectTag,
    Region,
    Revision,
    RevocationEvent,
    Role,
    Service,
    User,
)
from onestack.db.models.identity_admin import AccessRule  # noqa: F401  (Keystone extras)
from onestack.db.models.image import Image, ImageMember, ImageProperty, ImageTag
from onestack.db.models.image_metadef import MetadefNamespace  # noqa: F401  (metadefs, tasks)
from onestack.db.models.key_manager import KmSecret  # noqa: F401  (Barbican tables)
from onestack.db.models.load_balancer import LoadBalancer  # noqa: F401  (Octavia tables)
from onestack.db.models.load_balancer_flavor import LbFlavor  # noqa: F401  (Octavia flavors)
from onestack.db.models.network import NetTag  # noqa: F401  (network tables)
from onestack.db.models.object_store import SwiftAccount, SwiftContainer, SwiftObject
from onestack.db.models.placement import ResourceProvider  # noqa: F401  (placement tables)
from onestack.db.models.volume import Volume  # noqa: F401  (volume tables)
from onestack.db.models.volume_backup import Backup  # noqa: F401  (volume backups)
from onestack.db.models.volume_encryption import (  # noqa: F401  (encrypted types)
    VolumeTypeEncryption,
)
from onestack.db.models.volume_group import GroupType  # noqa: F401  (group types)
from onestack.db.models.volume_qos import QosSpec  # noqa: F401  (QoS specs)
from onestack.db.models.volume_transfer import VolumeTransfer  # noqa: F401  (transfers)

__all__ = [
    "AppCredRole",
    "ApplicationCredential",
    "Assignment",
    "Base",
    "Credential",
    "Domain",
    "Endpoint",
    "Group",
    "GroupMembership",
    "Image",
    "ImageMember",
    "ImageProperty",
    "ImageTag",
    "ImpliedRole",
    "Password",
    "Project",
    "ProjectTag",
    "Region",
    "Revision",
    "RevocationEvent",
    "Role",
    "Service",
    "SwiftAccount",
    "SwiftContainer",
    "SwiftObject",
    "User",
]
