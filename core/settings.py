"""Settings: one object, built once at the edge (CLI, flow entry) and passed down.

Sources, lowest priority first: defaults, ``<home>/fairway.toml``, ``FAIRWAY_*`` environment
variables, explicit overrides (CLI options, flow parameters). Secrets are ``SecretStr`` and
never appear in ``repr``, logs or flow parameters.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import SettingsError

__all__ = ["Settings", "default_home", "load_settings"]

GiB = 1024**3


def default_home() -> Path:
    """Return the default fairway home: ``$FAIRWAY_HOME`` or ``~/.fairway``."""
    return Path(os.environ.get("FAIRWAY_HOME") or Path.home() / ".fairway")


class Settings(BaseSettings):
    """Every knob of fairway, with the embedded defaults (no services needed)."""

    model_config = SettingsConfigDict(env_prefix="FAIRWAY_", frozen=True, extra="forbid")

    home: Path = Field(default_factory=default_home)
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file 'catalog.sqlite' in the home.",
    )
    archive_dir: Path | None = Field(default=None, description="Default: '<home>/archive'.")
    staging_dir: Path | None = Field(default=None, description="Default: '<home>/staging'.")
    quiet_seconds: float = Field(
        default=30.0, ge=0, description="A file is finished when unchanged for this long."
    )
    sentinel: str | None = Field(
        default=None,
        description="If set, a folder is complete only once a file of this name is in it.",
    )
    max_input_bytes: int = Field(
        default=256 * GiB, gt=0, description="Cap on declared pixel bytes of one input."
    )
    max_xml_bytes: int = Field(default=64 * 1024**2, gt=0)
    max_sidecar_bytes: int = Field(default=1024**2, gt=0)
    memory_limit_bytes: int = Field(default=1 * GiB, gt=0)
    layout: Literal["viewing", "archive", "ml"] = Field(
        default="viewing", description="Chunk/shard/compression policy (converters.policy)."
    )
    chunk_yx: int | None = Field(default=None, ge=16, description="Override the layout's chunk.")
    shard_yx: int | None = Field(
        default=None, ge=0, description="Override the layout's shard; 0 turns sharding off."
    )
    workers: int = Field(default=2, ge=1)
    ngff_version: Literal["0.5", "0.4"] = Field(
        default="0.5",
        description="0.5 writes zarr v3 (sharded); 0.4 writes zarr v2 for older viewers.",
    )
    pseudonym_store_url: SecretStr | None = Field(
        default=None,
        description="Where DICOM pseudonyms link back to originals (PHI; keep access tight); "
        "default: SQLite file '<home>/phi/pseudonyms.sqlite'. Never archived.",
    )
    dicom_date_policy: Literal["none", "modified", "full"] = Field(
        default="none",
        description="DICOM dates: removed (none), shifted per patient (modified) or kept (full).",
    )
    dicom_retain_device_identity: bool = Field(default=False)
    dicom_retain_institution_identity: bool = Field(default=False)
    dicom_retain_patient_characteristics: bool = Field(default=False)
    dicom_clean_descriptors: bool = Field(default=False)
    dask_scheduler_address: str | None = Field(
        default=None,
        description="e.g. tcp://10.0.0.5:8786: convert on this dask.distributed cluster "
        "(its workers must see the same staging folder); default: threads in this process.",
    )
    claim_timeout_seconds: float = Field(
        default=6 * 3600, gt=0, description="A 'processing' claim older than this is re-taken."
    )
    acquisition_timeout_seconds: float = Field(
        default=4 * 3600,
        gt=0,
        description="Wall time one acquisition may take before it is stopped and quarantined "
        "(retryable); never more than claim_timeout_seconds, when other workers retake it.",
    )
    archive_copies: list[str] = Field(
        default_factory=list,
        description="Further copies every dataset must have before it counts as archived: "
        "folders, file:///... or s3://bucket/prefix URLs.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint for s3:// copies (MinIO, Ceph...); default AWS."
    )
    s3_key: SecretStr | None = Field(default=None, description="S3 access key id (secret).")
    s3_secret: SecretStr | None = Field(default=None, description="S3 secret key (secret).")
    omero_host: str | None = Field(default=None, description="OMERO server for --to omero.")
    omero_port: int = Field(default=4064, gt=0)
    omero_user: str | None = Field(default=None)
    omero_password: SecretStr | None = Field(default=None, description="OMERO password (secret).")
    omero_password_block: str | None = Field(
        default=None, description="Name of a Prefect Secret block holding the OMERO password."
    )
    omero_in_place: bool = Field(
        default=True,
        description="Register the archived OME-Zarr in place (the server must see the archive).",
    )
    profile: str = Field(
        default="rembi-nbo-tier1",
        description="Facility profile for sources no profile's 'folders' or 'instruments' claim.",
    )
    profiles_dir: Path | None = Field(
        default=None,
        description="Folder of the facility's profile files; default '<home>/profiles'.",
    )
    instrument_registry: Path | None = Field(
        default=None,
        description="YAML file describing the facility's microscopes; default "
        "'<home>/instruments.yaml' (used when it exists).",
    )

    @property
    def catalog_url(self) -> str:
        """The SQLAlchemy URL of the catalog (secret: do not log)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.home / 'catalog.sqlite'}"

    @property
    def pseudonym_url(self) -> str:
        """The SQLAlchemy URL of the pseudonym store (secret, PHI: do not log)."""
        if self.pseudonym_store_url is not None:
            return self.pseudonym_store_url.get_secret_value()
        return f"sqlite:///{self.home / 'phi' / 'pseudonyms.sqlite'}"

    @property
    def archive_root(self) -> Path:
        """Folder of the default local archive."""
        return self.archive_dir or self.home / "archive"

    @property
    def staging_root(self) -> Path:
        """Folder where outputs are built before they are renamed into place."""
        return self.staging_dir or self.home / "staging"

    @property
    def profiles_root(self) -> Path:
        """Folder of the facility's own profile files."""
        return self.profiles_dir or self.home / "profiles"

    @property
    def registry_path(self) -> Path:
        """The facility instrument registry file (it need not exist)."""
        return self.instrument_registry or self.home / "instruments.yaml"

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to show or pass as flow parameters (secrets left out)."""
        return self.model_dump(
            mode="json",
            exclude={
                "database_url",
                "pseudonym_store_url",
                "s3_key",
                "s3_secret",
                "omero_password",
            },
        )


def load_settings(home: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, ``fairway.toml``, environment and overrides.

    Raises
    ------
    SettingsError
        If a value is invalid; the message names the setting and the source file.
    """
    if isinstance(home, str) and not home.strip():
        # what a deployment's `{{ prefect.variables.fairway_home }}` renders to when the
        # variable was never set: never fall back to the working directory
        raise SettingsError(
            "the fairway home is an empty string",
            hint="give a folder (--home, FAIRWAY_HOME); for the deployments in prefect.yaml "
            "run `prefect variable set fairway_home DIR`, then `prefect deploy --all` again",
        )
    home_path = Path(home) if home is not None else default_home()
    toml_path = home_path / "fairway.toml"
    from_file: dict[str, Any] = {}
    if toml_path.is_file():
        try:
            with toml_path.open("rb") as fh:
                from_file = tomllib.load(fh).get("fairway", {})
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(
                f"invalid TOML: {exc}", where=toml_path, hint="fix the file or remove it"
            ) from exc
    # the environment wins over the file: drop file keys that the environment sets
    from_file = {k: v for k, v in from_file.items() if f"FAIRWAY_{k.upper()}" not in os.environ}
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**{**from_file, **given, "home": home_path})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(
            f"invalid settings ({problems})",
            where=toml_path,
            hint="check fairway.toml and the FAIRWAY_* environment variables",
        ) from exc
