"""Realistic sample instrument output, for the demo and the tests.

What a facility inbox looks like: a spinning-disk OME-TIFF Z-stack with full instrument
metadata and a curator's sidecar, a wide-field plain TIFF with no metadata at all, an ImageJ
hyperstack time-lapse, a transfer that was cut off (truncated TIFF), and a file that is still
being written while fairway looks.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import tifffile
from ome_types import OME, to_xml
from ome_types.model import (
    Channel,
    Detector,
    DetectorSettings,
    Image,
    Instrument,
    InstrumentRef,
    Laser,
    LightSourceSettings,
    Microscope,
    Objective,
    ObjectiveSettings,
    Pixels,
    TiffData,
)

__all__ = [
    "REGISTRY_YAML",
    "SIDECAR_YAML",
    "SampleInbox",
    "SlowWriter",
    "blobs",
    "ome_tiff_bytes",
    "write_registry",
    "write_sample_inbox",
]

SIDECAR_YAML = """\
study:
  title: Live-cell imaging of EGFP-tagged focal adhesions in HeLa cells
  description: Spinning-disk confocal Z-stacks of HeLa cells expressing paxillin-EGFP and a mCherry membrane marker, acquired at the imaging core facility.
  keywords: [focal adhesion, paxillin, HeLa, spinning disk]
  authors:
    - name: Ada Example
      affiliation: Imaging Core Facility, Example Institute
      orcid: 0000-0002-1825-0097
  license: CC-BY-4.0
  release_date: "2026-11-25"
study_component:
  name: Paxillin-EGFP Z-stacks
  description: Fixed-interval Z-stacks, two channels, one field of view per file.
biosample:
  organism:
    - scientific_name: Homo sapiens
      ncbi_taxon: "NCBITaxon:9606"
  biological_entity: HeLa cell line (CVCL_0030)
specimen:
  sample_preparation_protocol: "Cells seeded on #1.5 glass-bottom dishes, transfected 24 h before imaging, fixed in 4% paraformaldehyde and kept in PBS."
  live_sample: false
  sample_type: Cell
  cover_glass:
    number: "#1.5"
  sample_holder:
    type: 35 mm glass-bottom dish
experiment:
  purpose: Localization
  labelling_method: Transient transfection with paxillin-EGFP and a mCherry membrane marker
channels:
  - light_source_settings:
      power_at_sample: 1.2
  - light_source_settings:
      power_at_sample: 0.9
annotations:
  overview: Focal adhesions segmented in every Z plane.
  types: [segmentation_mask]
  method: Otsu threshold of the EGFP channel, checked by eye.
acquisition:
  imaging_method:
    - label: spinning disk confocal microscopy
      term_id: http://purl.obolibrary.org/obo/FBbi_00000253
  imaging_instrument_description: Inverted microscope with spinning-disk unit, 60x/1.4 oil objective, sCMOS camera.
  image_acquisition_parameters: 488 nm and 561 nm lasers, 100 ms exposure, 0.3 um Z steps.
"""


REGISTRY_YAML = """\
# The facility's instrument registry: hardware described once, matched by serial number.
instruments:
  - id: spinning-disk-room-2
    match: {serial_number: TI2-552107}
    fields:
      acquisition_software.developer: Nikon
      acquisition_software.version: 5.42.03
      stage:
        manufacturer: Nikon
        model: Ti2-E motorized stage
        encoded: true
        motorized: true
        xy_repeatability: 1.0
        z_repeatability: 0.1
    objectives:
      - model: CFI Plan Apo Lambda 60x Oil
        infinity_corrected: true
        dic: false
        contrast_modulation: None
    detectors:
      - model: ORCA-Fusion BT
        pixel_width: 6.5
        pixel_height: 6.5
    light_sources:
      - {model: OBIS 488 LX, tuneable: false, pulse: CW, modulation: Digital}
      - {model: OBIS 561 LS, tuneable: false, pulse: CW, modulation: Digital}
    filters:
      - {manufacturer: Chroma, model: ET525/50m, type: BandPass, cut_in: 500, cut_out: 550}
      - {manufacturer: Chroma, model: ET600/50m, type: BandPass, cut_in: 575, cut_out: 625}
    dichroics:
      - {manufacturer: Chroma, model: ZT405/488/561rpc}
"""


def write_registry(home: Path) -> Path:
    """Write the sample facility's instrument registry into ``home`` unless one exists."""
    path = home / "instruments.yaml"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(REGISTRY_YAML, encoding="utf-8")
    return path


def blobs(
    shape: tuple[int, ...],
    *,
    n: int,
    sigma: float,
    seed: int,
    peak: float = 3000.0,
    background: float = 100.0,
) -> np.ndarray:
    """Smooth Gaussian structures plus Poisson (shot) noise, as uint16.

    ``shape`` ends with (y, x); leading axes (z) get blobs that vary smoothly along them.
    """
    rng = np.random.default_rng(seed)
    axes = [np.arange(s, dtype=np.float32) for s in shape]
    lam = np.full(shape, background, dtype=np.float32)
    for _ in range(n):
        # a Gaussian is separable: an outer product of 1-D profiles, added only where it is
        # not negligible (4 widths around its centre), so large volumes are quick to make
        blob = np.float32(peak * rng.uniform(0.3, 1.0))
        window = []
        for i, ax in enumerate(axes):
            squash = 0.3 if len(shape) == 3 and i == 0 else 1.0
            width = sigma * squash * rng.uniform(0.6, 1.6)
            centre = rng.uniform(0, shape[i])
            lo, hi = max(0, int(centre - 4 * width)), min(shape[i], int(centre + 4 * width) + 1)
            window.append(slice(lo, hi))
            profile = np.exp(-0.5 * ((ax[lo:hi] - centre) / width) ** 2)
            blob = np.multiply.outer(blob, profile) if i else blob * profile
        lam[tuple(window)] += blob
    return np.clip(rng.poisson(lam), 0, 65535).astype(np.uint16)


def _ome_for_stack(name: str, c: int, z: int, y: int, x: int) -> OME:
    lasers = [
        Laser(
            id="LightSource:0",
            manufacturer="Coherent",
            model="OBIS 488 LX",
            wavelength=488,
            power=100,
            type="Semiconductor",
        ),
        Laser(
            id="LightSource:1",
            manufacturer="Coherent",
            model="OBIS 561 LS",
            wavelength=561,
            power=80,
            type="SolidState",
        ),
    ]
    instrument = Instrument(
        id="Instrument:0",
        microscope=Microscope(
            manufacturer="Nikon", model="Eclipse Ti2-E", type="Inverted", serial_number="TI2-552107"
        ),
        objectives=[
            Objective(
                id="Objective:0",
                manufacturer="Nikon",
                model="CFI Plan Apo Lambda 60x Oil",
                nominal_magnification=60,
                lens_na=1.4,
                immersion="Oil",
                correction="PlanApo",
                working_distance=130,
                working_distance_unit="µm",
            )
        ],
        detectors=[
            Detector(
                id="Detector:0",
                manufacturer="Hamamatsu",
                model="ORCA-Fusion BT",
                type="CMOS",
                serial_number="C15440-20UP-001234",
            )
        ],
        lasers=lasers,
    )
    dyes = [("EGFP", 488, 507, "00FF00"), ("mCherry", 561, 610, "FF00FF")]
    channels = [
        Channel(
            id=f"Channel:0:{k}",
            name=dyes[k][0],
            fluor=dyes[k][0],
            samples_per_pixel=1,
            excitation_wavelength=dyes[k][1],
            emission_wavelength=dyes[k][2],
            illumination_type="Epifluorescence",
            contrast_method="Fluorescence",
            acquisition_mode="SpinningDiskConfocal",
            pinhole_size=50,
            color=int(dyes[k][3] + "FF", 16) - (1 << 32),
            detector_settings=DetectorSettings(
                id="Detector:0", binning="1x1", gain=1.0, read_out_rate=200
            ),
            light_source_settings=LightSourceSettings(id=f"LightSource:{k}", attenuation=0.2),
        )
        for k in range(c)
    ]
    image = Image(
        id="Image:0",
        name=name,
        acquisition_date=datetime(2026, 11, 20, 14, 32, 5),
        instrument_ref=InstrumentRef(id="Instrument:0"),
        objective_settings=ObjectiveSettings(
            id="Objective:0", medium="Oil", refractive_index=1.515
        ),
        pixels=Pixels(
            id="Pixels:0",
            dimension_order="XYZCT",
            type="uint16",
            significant_bits=16,
            size_x=x,
            size_y=y,
            size_z=z,
            size_c=c,
            size_t=1,
            physical_size_x=0.108,
            physical_size_y=0.108,
            physical_size_z=0.3,
            channels=channels,
            tiff_data_blocks=[TiffData(plane_count=c * z)],
        ),
    )
    return OME(images=[image], instruments=[instrument], creator="NIS-Elements AR 5.42.03")


def ome_tiff_bytes(
    name: str = "hela_paxillin_001",
    *,
    c: int = 2,
    z: int = 16,
    y: int = 512,
    x: int = 512,
    seed: int = 1,
) -> bytes:
    """An OME-TIFF (C, Z, Y, X uint16) with instrument, objective and channel metadata."""
    data = np.stack([blobs((z, y, x), n=40, sigma=9.0, seed=seed + k) for k in range(c)])
    xml = to_xml(_ome_for_stack(name, c, z, y, x))
    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        data.reshape(c * z, y, x),
        description=xml.encode(),
        metadata=None,
        photometric="minisblack",
        software="NIS-Elements AR 5.42.03",
    )
    return buf.getvalue()


def label_tiff_bytes(ome_tiff: bytes, *, c: int = 2, z: int = 16) -> bytes:
    """A segmentation of the first channel of :func:`ome_tiff_bytes`.

    What a facility's analysis pipeline drops beside the image: bright regions, numbered by
    the 64-pixel tile they fall in (distinct labels without an image-analysis library).
    """
    data = tifffile.imread(io.BytesIO(ome_tiff))
    first = data.reshape(c, z, *data.shape[-2:])[0]
    mask = first > np.percentile(first, 90)
    ys, xs = np.indices(mask.shape[-2:])
    tiles = (ys // 64) * (mask.shape[-1] // 64 + 1) + xs // 64 + 1
    labels = np.where(mask, tiles[np.newaxis], 0).astype(np.uint16)
    buf = io.BytesIO()
    tifffile.imwrite(buf, labels, photometric="minisblack", metadata=None)
    return buf.getvalue()


def write_ct_series(folder: Path, *, seed: int, slices: int = 24, size: int = 128) -> list[Path]:
    """A CT series as a scanner exports it.

    The patient's name is in the folder and file names, identifying attributes and a private
    tag are in the headers: fairway de-identifies all of it on ingest.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    volume = blobs((slices, size, size), n=12, sigma=10.0, seed=seed).astype(np.int16) - 1024
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    files = []
    for k in range(slices):
        ds = Dataset()
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "DOE^JANE", "MRN0042", "19700101"
        ds.PatientSex, ds.InstitutionName = "F", "Sample University Hospital"
        ds.ReferringPhysicianName, ds.AccessionNumber = "SMITH^ALAN", "ACC77"
        ds.StudyDate, ds.StudyTime, ds.StudyDescription = "20261120", "101500", "CT DOE ankle"
        ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "CT", "ACME", "Scanner 9000"
        ds.StationName, ds.DeviceSerialNumber, ds.SoftwareVersions = "CT-2", "SN-981", "4.2"
        ds.KVP, ds.Exposure, ds.SliceThickness = "120", 250, "1.5"
        ds.BodyPartExamined = "ANKLE"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.FrameOfReferenceUID, ds.SOPClassUID = frame, CTImageStorage
        ds.SOPInstanceUID, ds.InstanceNumber = generate_uid(), k + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-45.0, -45.0, 1.5 * k]
        ds.PixelSpacing = [0.7, 0.7]
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = "0", "1"
        ds.PixelData = volume[k].tobytes()
        ds.private_block(0x0029, "ACME SCANNER", create=True).add_new(0x10, "LO", "DOE JANE")
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = folder / f"DOE_JANE_IM{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def _plain_tiff_bytes(seed: int, size: int = 1024) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        blobs((size, size), n=60, sigma=14.0, seed=seed),
        metadata=None,
        photometric="minisblack",
    )
    return buf.getvalue()


def _imagej_bytes(seed: int) -> bytes:
    t, z, c, y, x = 5, 6, 2, 256, 256
    data = np.stack(
        [
            np.stack(
                [blobs((z, y, x), n=15, sigma=8.0, seed=seed + 10 * ti + ci) for ci in range(c)],
                axis=1,
            )
            for ti in range(t)
        ]
    )  # T, Z, C, Y, X
    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        data,
        imagej=True,
        resolution=(1 / 0.65, 1 / 0.65),
        metadata={"axes": "TZCYX", "spacing": 2.0, "unit": "um", "finterval": 30.0},
    )
    return buf.getvalue()


@dataclass
class SlowWriter:
    """Writes a file in small pieces until told to finish, like a camera streaming to disk."""

    path: Path
    payload: bytes
    piece: int = 64 * 1024
    pause: float = 0.25
    _finish: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> SlowWriter:
        """Begin writing in a background thread."""
        self._thread = threading.Thread(
            target=self._run, name=f"slow-writer:{self.path.name}", daemon=True
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        half = len(self.payload) // 2
        with self.path.open("wb") as fh:
            written = 0
            # the first half trickles in until we are told to finish, so the file is
            # visibly "in progress" for as long as the caller needs
            while not self._finish.is_set():
                if written < half:
                    fh.write(self.payload[written : written + self.piece])
                    written = min(written + self.piece, half)
                fh.flush()
                self.path.touch()
                time.sleep(self.pause)
            fh.write(self.payload[written:])
            fh.flush()

    def finish(self) -> None:
        """Write the rest and close the file; returns when it is closed."""
        self._finish.set()
        if self._thread is not None:
            self._thread.join()


@dataclass(frozen=True)
class SampleInbox:
    """What :func:`write_sample_inbox` wrote."""

    root: Path
    complete: tuple[Path, ...]
    corrupt: tuple[Path, ...]
    in_progress: SlowWriter
    #: the files of one CT series (archived as one dataset under a derived name)
    dicom: tuple[Path, ...] = ()


def write_sample_inbox(root: Path, *, seed: int | None = None) -> SampleInbox:
    """Write a facility-like inbox under ``root`` and start a file that is still being written.

    ``seed`` fixes the pixel content; by default each call makes new data (new datasets).
    """
    seed = int(time.time_ns() % 1_000_000) if seed is None else seed
    sd = root / "spinning-disk" / "2026-11-20_hela-paxillin"
    wf = root / "widefield"
    tl = root / "timelapse"
    for d in (sd, wf, tl):
        d.mkdir(parents=True, exist_ok=True)
    ome_path = sd / "hela_paxillin_001.ome.tif"
    ome_bytes = ome_tiff_bytes(seed=seed)
    ome_path.write_bytes(ome_bytes)
    (sd / "hela_paxillin_001.labels.adhesions.tif").write_bytes(label_tiff_bytes(ome_bytes))
    (sd / "fairway.yaml").write_text(SIDECAR_YAML, encoding="utf-8")
    plain = wf / "plain_0001.tif"
    plain.write_bytes(_plain_tiff_bytes(seed + 100))
    ij = tl / "mitosis_hyperstack.tif"
    ij.write_bytes(_imagej_bytes(seed + 200))
    truncated = wf / "plain_0003_transfer_cut.tif"
    truncated.write_bytes(_plain_tiff_bytes(seed + 300)[:200_000])
    ct = write_ct_series(root / "ct" / "DOE^JANE_20261120", seed=seed + 500)
    writer = SlowWriter(wf / "plain_0002.tif", _plain_tiff_bytes(seed + 400)).start()
    return SampleInbox(
        root=root,
        complete=(ome_path, plain, ij),
        corrupt=(truncated,),
        in_progress=writer,
        dicom=tuple(ct),
    )
