"""Old (旧字体) and variant (異体字) kanji, and their everyday forms.

The recogniser was trained on Chinese and Japanese print and often answers with an old or
Chinese form (榮 豐 德 惠 邊 國) where a Japanese hand wrote the everyday one. The two uses
differ: an address is folded to the form Japan Post's data uses (see
:func:`yomitori.validation.address.fold_address_variants`); a person's name is never
"modernised" silently, because people do write their names with old forms: a name holding
one goes to a person with the reason ``kanji_variant``. Runs everywhere; plain data.
"""

from __future__ import annotations

# variant -> everyday form (Jōyō/Jinmeiyō shinjitai). Pairs seen in names and place names;
# Chinese simplified forms the model may produce are included where CP932 can hold them.
VARIANTS: dict[str, str] = {
    "惠": "恵", "榮": "栄", "豐": "豊", "德": "徳", "邊": "辺", "邉": "辺", "國": "国", "圀": "国",
    "髙": "高", "﨑": "崎", "嵜": "崎", "濱": "浜", "濵": "浜", "澤": "沢", "廣": "広", "齋": "斎",
    "齊": "斉", "櫻": "桜", "圓": "円", "實": "実", "眞": "真", "壽": "寿", "淺": "浅", "兒": "児",
    "條": "条", "萬": "万", "與": "与", "禮": "礼", "瀨": "瀬", "靜": "静", "曾": "曽", "驛": "駅",
    "縣": "県", "區": "区", "鐵": "鉄", "藏": "蔵", "冨": "富", "嶋": "島", "嶌": "島", "桒": "桑",
    "學": "学", "會": "会", "發": "発", "傳": "伝", "將": "将", "晝": "昼", "爲": "為", "應": "応",
    "惡": "悪", "勞": "労", "營": "営", "顯": "顕", "稻": "稲", "穗": "穂", "聰": "聡", "彌": "弥",
    "莊": "荘", "劍": "剣", "澁": "渋", "瀧": "滝", "峯": "峰", "槇": "槙", "舘": "館", "讓": "譲",
    "黑": "黒", "樂": "楽", "氣": "気", "佛": "仏", "辨": "弁", "邨": "村", "淸": "清", "靑": "青",
    "增": "増", "郞": "郎",
}


def variants_in(text: str) -> list[str]:
    """The old or variant characters in ``text``, in order, each once."""
    return list(dict.fromkeys(ch for ch in text if ch in VARIANTS))


def everyday_forms(text: str) -> str:
    """``text`` with every old or variant character replaced by its everyday form."""
    return "".join(VARIANTS.get(ch, ch) for ch in text)
