"""An address's prefecture, read one character wrong, set right from the 47 names.

Addresses begin with the prefecture, a closed list of 47 names; Tesseract misreads a
handwritten 愛 as 受 or 要, 茨 as 英, 山 as 貞. A leading 都/道/府/県 word that differs from
exactly one prefecture in exactly one character is that prefecture (the rest of the address
is left as read).
"""

from __future__ import annotations

PREFECTURES = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県", "群馬県",
    "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県",
    "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県",
    "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県",
    "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
)


def fix_prefecture(text: str) -> str:
    """``text`` with a one-character misreading of its leading prefecture corrected."""
    if text.startswith(PREFECTURES):
        return text
    candidates = {p for p in PREFECTURES if len(text) > len(p) and text[len(p) - 1] == p[-1]
                  and sum(a != b for a, b in zip(text, p, strict=False)) == 1}
    if len(candidates) != 1:
        return text
    p = candidates.pop()
    return p + text[len(p):]
