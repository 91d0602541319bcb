"""Vietnam's provinces and wards as of 1 July 2025 (34 provinces, no districts), the pre-2025 wards and
districts citizens will go on naming, and how a said place, an old address or a position becomes a ward.

The list, its codes, its centres and areas and its old-to-new mapping are the `vietnamadminunits`
package's data (MIT); this package reads that data and matches names itself (catalogue.py, index.py), so
matching a place never geocodes over the network as the package's own converter may."""

from hotline.places.catalogue import OldWard, Province, Ward
from hotline.places.folding import fold
from hotline.places.index import Placement, Places, Suggestion, for_province, known_codes

__all__ = [
    "OldWard",
    "Placement",
    "Places",
    "Province",
    "Suggestion",
    "Ward",
    "fold",
    "for_province",
    "known_codes",
]
