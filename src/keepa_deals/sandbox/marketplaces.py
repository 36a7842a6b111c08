"""The sandbox's marketplaces: amazon.com, amazon.co.uk and amazon.de.

Each marketplace is its own world: its own catalogue (drawn from the seed and
the domain), its own category tree (Amazon's node ids differ per locale), its
own currency, and its own pool of third-party sellers.  Prices are integers
in the marketplace's smallest currency unit, as Keepa gives them: US cents,
UK pence, euro cents. [C: keepa-api.md §4]

The amazon.com world is the one the sandbox always had: same products, same
events, same prices for a given seed.  Other valid Keepa locales (fr, jp,
ca, ...) have no world: they answer like a marketplace with no data (empty
deal pages, no products).

Root category ids are Amazon's browse nodes as commonly seen on each site
[I: illustrative; the sandbox does not depend on them being current];
sub-category ids outside the US are the sandbox's own.
"""

from __future__ import annotations

from dataclasses import dataclass

#: What a root category is, the same in every marketplace (it picks titles,
#: price ranges and fees); the ids and names are per marketplace.
BOOKS_KIND, ELECTRONICS_KIND, HOME_KIND, TOYS_KIND, GAMES_KIND, MUSIC_KIND = range(6)
#: Share of the catalogue per kind.
KIND_WEIGHTS = (0.82, 0.05, 0.05, 0.04, 0.02, 0.02)


@dataclass(frozen=True, slots=True)
class RootCategory:
    kind: int
    id: int
    name: str
    #: Leaf categories: id → name.
    subs: tuple[tuple[int, str], ...]


@dataclass(frozen=True, slots=True)
class Marketplace:
    domain: int
    code: str
    host: str
    currency: str
    #: Multiplies the amazon.com price draws (the US world is 1.0: unchanged).
    price_scale: float
    #: The id of Amazon's own seller in this marketplace.
    amazon_seller_id: str
    amazon_seller_name: str
    #: Shipping of a merchant-fulfilled book offer, in minor units.
    book_shipping: int
    roots: tuple[RootCategory, ...]

    def root(self, kind: int) -> RootCategory:
        return self.roots[kind]

    @property
    def books(self) -> int:
        return self.roots[BOOKS_KIND].id

    def root_by_id(self, category: int) -> RootCategory | None:
        return next((r for r in self.roots if r.id == category), None)

    def names(self) -> dict[int, str]:
        """Every category of the tree, roots and leaves: id → name."""
        out = {r.id: r.name for r in self.roots}
        for r in self.roots:
            out.update(dict(r.subs))
        return out

    def parent_of(self, category: int) -> int | None:
        """0 for a root, the root for a leaf, None for an unknown id."""
        for r in self.roots:
            if r.id == category:
                return 0
            if any(c == category for c, _ in r.subs):
                return r.id
        return None


_US_BOOK_SUBS = (
    (1, "Arts & Photography"), (2, "Biographies & Memoirs"), (3, "Business & Money"),
    (4, "Children's Books"), (5, "Computers & Technology"), (6, "Cookbooks, Food & Wine"),
    (9, "History"), (10, "Health, Fitness & Dieting"), (17, "Literature & Fiction"),
    (18, "Mystery, Thriller & Suspense"), (22, "Religion & Spirituality"), (23, "Romance"),
    (25, "Science Fiction & Fantasy"), (75, "Science & Math"), (4736, "Self-Help"),
    (28, "Teen & Young Adult"), (465600, "Textbooks"),
)

US = Marketplace(
    domain=1, code="US", host="amazon.com", currency="USD", price_scale=1.0,
    amazon_seller_id="ATVPDKIKX0DER", amazon_seller_name="Amazon.com", book_shipping=399,
    roots=(
        RootCategory(BOOKS_KIND, 283155, "Books", _US_BOOK_SUBS),
        RootCategory(ELECTRONICS_KIND, 172282, "Electronics", (
            (541966, "Computers & Accessories"), (502394, "Camera & Photo"), (667846011, "Headphones"))),
        RootCategory(HOME_KIND, 1055398, "Home & Kitchen", (
            (284507, "Kitchen & Dining"), (1063498, "Home Décor"), (1063306, "Furniture"))),
        RootCategory(TOYS_KIND, 165793011, "Toys & Games", (
            (166092011, "Building Toys"), (166118011, "Dolls & Accessories"), (166220011, "Games"))),
        RootCategory(GAMES_KIND, 468642, "Video Games", (
            (6427814011, "PlayStation 5"), (13887280011, "Nintendo Switch"))),
        RootCategory(MUSIC_KIND, 5174, "CDs & Vinyl", ((37, "Rock"), (30, "Jazz"), (85, "Classical"))),
    ),
)

GB = Marketplace(
    domain=2, code="GB", host="amazon.co.uk", currency="GBP", price_scale=0.85,
    amazon_seller_id="A3P5ROKL5A1OLE", amazon_seller_name="Amazon.co.uk", book_shipping=280,
    roots=(
        RootCategory(BOOKS_KIND, 266239, "Books", (
            (91, "Art, Architecture & Photography"), (67, "Biography"), (68, "Business, Finance & Law"),
            (69, "Children's Books"), (71, "Computing & Internet"), (72, "Food & Drink"),
            (275835, "History"), (74, "Health, Family & Lifestyle"), (62, "Fiction"),
            (72127031, "Crime, Thriller & Mystery"), (76, "Religion & Spirituality"),
            (88, "Romance"), (279254, "Science Fiction & Fantasy"), (64, "Science & Nature"),
            (83, "Society, Politics & Philosophy"), (52, "Teen & Young Adult"),
            (51, "Textbooks & Study Guides"))),
        RootCategory(ELECTRONICS_KIND, 560798, "Electronics & Photo", (
            (340831031, "Computers & Accessories"), (560834, "Camera & Photo"), (4085731, "Headphones"))),
        RootCategory(HOME_KIND, 3146281, "Home & Kitchen", (
            (11052681, "Kitchen & Home"), (3147411, "Home Accessories"), (3147351, "Furniture"))),
        RootCategory(TOYS_KIND, 468292, "Toys & Games", (
            (364237031, "Building & Construction Toys"), (364315031, "Dolls & Accessories"),
            (364231031, "Games & Accessories"))),
        RootCategory(GAMES_KIND, 300703, "PC & Video Games", (
            (22797154031, "PlayStation 5"), (15707185031, "Nintendo Switch"))),
        RootCategory(MUSIC_KIND, 229816, "CDs & Vinyl", (
            (694208, "Rock"), (694262, "Jazz"), (697262, "Classical"))),
    ),
)

DE = Marketplace(
    domain=3, code="DE", host="amazon.de", currency="EUR", price_scale=1.0,
    amazon_seller_id="A3JWKAKR8XB7XF", amazon_seller_name="Amazon.de", book_shipping=300,
    roots=(
        RootCategory(BOOKS_KIND, 186606, "Bücher", (
            (548400, "Kunst & Fotografie"), (187254, "Biografien & Erinnerungen"),
            (403434, "Business & Karriere"), (280652, "Kinderbücher"),
            (124, "Computer & Internet"), (122, "Kochen & Genießen"), (287621, "Geschichte"),
            (8812, "Gesundheit, Fitness & Ernährung"), (117, "Literatur & Fiktion"),
            (419943031, "Krimis & Thriller"), (536302, "Religion & Glaube"),
            (88, "Liebesromane"), (142, "Science Fiction & Fantasy"),
            (541686, "Naturwissenschaften & Technik"), (11063821, "Ratgeber"),
            (1051052, "Jugendbücher"), (288100, "Schule & Lernen"))),
        RootCategory(ELECTRONICS_KIND, 562066, "Elektronik & Foto", (
            (340843031, "Computer & Zubehör"), (571860, "Kamera & Foto"), (570278, "Kopfhörer"))),
        RootCategory(HOME_KIND, 3167641, "Küche, Haushalt & Wohnen", (
            (3169011, "Küchen- & Haushaltsartikel"), (3310781, "Dekoration"), (16435051, "Möbel"))),
        RootCategory(TOYS_KIND, 12950651, "Spielzeug", (
            (12950661, "Bausteine & Bauspielzeug"), (12950671, "Puppen & Zubehör"),
            (12950711, "Spiele"))),
        RootCategory(GAMES_KIND, 300992, "Games", (
            (20904927031, "PlayStation 5"), (10853834031, "Nintendo Switch"))),
        RootCategory(MUSIC_KIND, 255882, "Musik-CDs & Vinyl", (
            (264875, "Rock"), (255966, "Jazz"), (255965, "Klassik"))),
    ),
)

#: The marketplaces with a world, by Keepa domain id.
MARKETPLACES: dict[int, Marketplace] = {m.domain: m for m in (US, GB, DE)}
