"""An existing-style paper form, drawn the way a city prints its own: black lines and labels,
no corner marks, no form-code strip, no drop-out colour. 「令和　年　月　日」 with gaps, words to
circle (（自宅・携帯・勤務先）, 普通・当座), bank and branch written as names, 人 and 円 after their
boxes, a free line with a small hint at its end, and office-use areas (受付印, 整理番号, お届け印,
the office table).

It is the blank of the example existing form ``water_city`` (``forms/water_city.yaml``): it
was registered with ``yomitori forms new water_city --from-scan`` and its fields drawn on it.
``yomitori synth`` fills it like any form. Runs on one machine (tests, demo).
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from yomitori.fonts import font, label_font_path
from yomitori.forms.layout import mm_to_px

BLACK = (25, 25, 25)
LEFT, RIGHT, LABEL_END = 15.0, 195.0, 50.0
# (top, bottom, label) of the table's rows, in mm
ROWS = [
    (55, 65, "フリガナ"), (65, 80, "氏　名"), (80, 94, "使用場所"), (94, 106, "電話番号"),
    (106, 118, "使用開始日"), (118, 130, "世帯人数"), (130, 142, "備　考"),
]
BANK_ROWS = [(152, 166, "金融機関名"), (166, 180, "支店名"), (180, 192, "預金種目"),
             (192, 206, "口座名義\n（カナ）")]


class _Sheet:
    def __init__(self, dpi: int):
        self.dpi = dpi
        self.page = Image.new("RGB", (round(mm_to_px(210, dpi)), round(mm_to_px(297, dpi))), "white")
        self.draw = ImageDraw.Draw(self.page)

    def px(self, v: float) -> float:
        return mm_to_px(v, self.dpi)

    def text(self, x: float, y: float, s: str, size: float = 3.4, anchor: str = "lm") -> None:
        f = font(label_font_path(), max(8, round(self.px(size))))
        self.draw.text((self.px(x), self.px(y)), s, font=f, fill=BLACK, anchor=anchor)

    def line(self, x0: float, y0: float, x1: float, y1: float, width: float = 0.3) -> None:
        self.draw.line([(self.px(x0), self.px(y0)), (self.px(x1), self.px(y1))], fill=BLACK,
                       width=max(1, round(self.px(width))))

    def rect(self, x0: float, y0: float, x1: float, y1: float, width: float = 0.3) -> None:
        self.draw.rectangle((self.px(x0), self.px(y0), self.px(x1), self.px(y1)), outline=BLACK,
                            width=max(1, round(self.px(width))))

    def dashed_circle(self, cx: float, cy: float, r: float) -> None:
        box = (self.px(cx - r), self.px(cy - r), self.px(cx + r), self.px(cy + r))
        for k in range(0, 360, 20):
            self.draw.arc(box, k, k + 10, fill=BLACK, width=max(1, round(self.px(0.25))))


def _table(s: _Sheet, rows: list[tuple[float, float, str]]) -> None:
    top, bottom = rows[0][0], rows[-1][1]
    s.rect(LEFT, top, RIGHT, bottom, 0.5)
    s.line(LABEL_END, top, LABEL_END, bottom)
    for y0, y1, label in rows:
        s.line(LEFT, y1, RIGHT, y1)
        lines = label.split("\n")
        for k, part in enumerate(lines):
            s.text((LEFT + LABEL_END) / 2, (y0 + y1) / 2 + (k - (len(lines) - 1) / 2) * 4, part, 3.4, "mm")


def draw_water_city_blank(dpi: int = 300) -> Image.Image:
    """The blank 水道使用開始申込書 of みなと市 as an RGB page (A4 at ``dpi``)."""
    s = _Sheet(dpi)
    # office-use corner: 整理番号 and the 受付印 circle
    s.rect(112, 8, 155, 18)
    s.text(114, 13, "整理番号", 2.6)
    s.rect(160, 8, 195, 38)
    s.text(177.5, 11, "受付印", 2.6, "mm")
    s.dashed_circle(177.5, 24, 11)
    s.text(20, 24, "水道使用開始申込書", 7.0)
    s.text(20, 36, "みなと市水道事業管理者　様", 3.6)
    # 「令和　年　月　日」 with gaps
    s.text(118, 46, "令和", 3.6)
    s.text(140.5, 46, "年", 3.6)
    s.text(155.5, 46, "月", 3.6)
    s.text(170.5, 46, "日", 3.6)
    _table(s, ROWS)
    # phone: the kind of number circled
    s.text(128, 100, "（自宅・携帯・勤務先）", 3.4)
    # start date: the era written by hand
    for x, unit in ((82.5, "年"), (98.5, "月"), (114.5, "日")):
        s.text(x, 112, unit, 3.4)
    s.text(74, 124, "人", 3.4)
    s.line(100, 118, 100, 130)
    s.text(112.5, 124, "預り金", 3.4, "mm")
    s.line(125, 118, 125, 130)
    s.text(178, 124, "円", 3.4)
    s.text(193, 136, "（転居・新築・その他）", 2.4, "rm")
    s.text(LEFT, 148, "口座振替のお申込み（水道料金のお支払い）", 3.6)
    _table(s, BANK_ROWS)
    s.text(193, 159, "（銀行・信用金庫・農協）", 2.4, "rm")
    s.text(193, 173, "（本店・支店・出張所）", 2.4, "rm")
    s.text(55, 186, "普通　・　当座", 3.4)
    s.line(100, 180, 100, 192)
    s.text(112.5, 186, "口座番号", 3.4, "mm")
    s.line(125, 180, 125, 192)
    for k in range(8):
        s.line(125 + 8 * k, 181, 125 + 8 * k, 191, 0.2)
    # お届け印 (the account's seal, checked by the bank) and the office table
    s.rect(158, 210, 195, 238)
    s.text(176.5, 213, "お届け印", 2.6, "mm")
    s.text(LEFT, 214, "上記のとおり申し込みます。", 3.4)
    s.text(LEFT, 246, "※以下は記入しないでください（水道局使用欄）", 3.0)
    s.rect(LEFT, 250, RIGHT, 285, 0.5)
    s.line(LEFT, 258, RIGHT, 258)
    for k, head in enumerate(("受付者", "入力者", "開栓日", "検針", "備考")):
        x = LEFT + 36 * k
        if k:
            s.line(x, 250, x, 285)
        s.text(x + 18, 254, head, 3.0, "mm")
    return s.page
