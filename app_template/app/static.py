"""Static assets under content-hashed names, so they can be cached for a year and never revalidated.

`python -m app.static OUTDIR` writes the hashed files for upload to S3 (CloudFront serves /static/ from
there in production); the app serves the same names itself for local use and as the origin fallback.
"""

import hashlib
import mimetypes
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from app.settings import APP_DIR

SOURCE_DIR = APP_DIR / "static"
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    path: Path
    hashed_name: str


def _hashed_name(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"{path.stem}.{digest}{path.suffix}"


def build_manifest(source: Path = SOURCE_DIR) -> dict[str, Asset]:
    """Logical name ("app.css") to asset; hashing at start keeps the repository free of built files."""
    return {
        path.name: Asset(path, _hashed_name(path))
        for path in sorted(source.iterdir())
        if path.is_file() and not path.name.startswith(".")
    }


MANIFEST = build_manifest()
_BY_HASHED_NAME = {asset.hashed_name: asset for asset in MANIFEST.values()}


def static_url(name: str) -> str:
    return f"/static/{MANIFEST[name].hashed_name}"


router = APIRouter(include_in_schema=False)


@router.get("/static/{hashed_name}")
async def static_asset(hashed_name: str) -> FileResponse:
    # Only hashed names are served: an unhashed URL could be cached for a year and then go stale.
    asset = _BY_HASHED_NAME.get(hashed_name)
    if asset is None:
        raise HTTPException(status_code=404, detail="no such asset")
    media_type = mimetypes.guess_type(asset.path.name)[0] or "application/octet-stream"
    return FileResponse(asset.path, media_type=media_type, headers={"Cache-Control": IMMUTABLE})


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for asset in MANIFEST.values():
        shutil.copyfile(asset.path, out / asset.hashed_name)
        print(f"{asset.hashed_name}\t{IMMUTABLE}")


if __name__ == "__main__":
    main()
