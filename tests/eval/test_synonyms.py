"""SynonymTable matching rules and the transcribed COCO (CHAIR) table."""
import pytest

from rlaifv.eval.synonyms import (
    OBJECT_HALBENCH_ADDITIONS, SynonymTable, coco_table, read_synonym_lines, singular_candidates,
    COCO_SYNONYMS_FILE,
)

pytestmark = pytest.mark.cpu


def words(table, text):
    return [(m.word, m.category) for m in table.find(text)]


def test_singular_candidates_by_rule():
    assert singular_candidates("buses") == ["buses", "bus", "buse"]
    assert singular_candidates("knives") == ["knives", "knif", "knife", "knive"]
    assert singular_candidates("ponies") == ["ponies", "pony", "ponie"]
    assert singular_candidates("men") == ["men", "man"]
    assert singular_candidates("policemen") == ["policemen", "policeman"]
    assert singular_candidates("glasses") == ["glasses", "glass", "glasse"]
    assert singular_candidates("glass") == ["glass"]  # never strips the s of "ss"
    assert singular_candidates("circlees") == ["circlees", "circlee"]  # "es" only after s/x/z/ch/sh/o


def test_longest_match_plural_last_word_and_whitespace_gaps():
    table = SynonymTable({"hot dog": ["hotdog"], "dog": ["puppy"], "cell phone": ["phone"]})
    # "hot dogs" is one hot dog, not a dog; only the last word may be plural
    assert words(table, "Hot dogs, a puppy and puppies.") == [
        ("hot dog", "hot dog"), ("puppy", "dog"), ("puppy", "dog"),
    ]
    assert words(table, "hots dog") == [("dog", "dog")]
    # phrase words must be separated by whitespace only
    assert words(table, "hot-dog; hot, dog; cell\nphones") == [
        ("dog", "dog"), ("dog", "dog"), ("cell phone", "cell phone"),
    ]
    assert words(table, "hotdogs dogged underdog") == [("hotdog", "hot dog")]


def test_aliases_and_drop_rule():
    table = SynonymTable({"person": ["baby", "passenger"], "bird": [], "toilet": [], "chair": ["seat"]},
                         aliases={"baby bird": "bird", "baby animal": "animal", "toilet seat": "toilet"},
                         drop_if_present={"seat": "toilet"})
    assert words(table, "A baby bird, a baby animal and a baby.") == [
        ("bird", "bird"), ("baby", "person"),  # "baby animal" is consumed without naming an object
    ]
    assert words(table, "A seat near the toilet.") == [("toilet", "toilet")]
    assert words(table, "A toilet seat.") == [("toilet", "toilet")]
    assert words(table, "Two seats.") == [("seat", "chair")]


def test_category_lookup():
    table = coco_table()
    assert table.category("Sofa") == "couch"
    assert table.category("teddy bears") == "teddy bear"
    assert table.category("women") == "person"
    assert table.category("unicorn") is None and table.category("") is None


def test_bad_tables():
    with pytest.raises(ValueError, match="'bat' is listed under both 'animal' and 'baseball bat'"):
        SynonymTable({"animal": ["bat"], "baseball bat": ["bat"]})
    with pytest.raises(ValueError, match="must be a list"):
        SynonymTable({"dog": "puppy"})
    with pytest.raises(ValueError, match="'hot-dog' must be words"):
        SynonymTable({"hot dog": ["hot-dog"]})
    with pytest.raises(ValueError, match="at least one category"):
        SynonymTable({})


def test_coco_table_is_chairs_list():
    original = read_synonym_lines(COCO_SYNONYMS_FILE)
    assert len(original) == 80 and list(original)[:3] == ["person", "bicycle", "car"]
    rohrbach, refined = coco_table(refined=False), coco_table()
    assert len(rohrbach.categories) == len(refined.categories) == 80
    assert rohrbach.categories["motorcycle"] == (
        "motorcycle", "scooter", "motor bike", "motor cycle", "motorbike", "moped",
    )
    for category, extra in OBJECT_HALBENCH_ADDITIONS.items():
        assert set(extra) <= set(refined.categories[category])
        assert not set(extra) & set(rohrbach.categories[category])
    assert words(rohrbach, "a remote control") == [("remote", "remote")]
    assert words(refined, "a remote control") == [("remote control", "remote")]
    text = ("Men near baby elephants, passenger trains on a train track, a bow tie, "
            "an iPhone, knives, and buses.")
    assert words(refined, text) == [
        ("man", "person"), ("elephant", "elephant"), ("train", "train"), ("tie", "tie"),
        ("iphone", "cell phone"), ("knife", "knife"), ("bus", "bus"),
    ]
