"""Reason codes in plain Japanese for the review page.

Validators return stable codes (safe for logs and audit records); a reviewer needs to know
what is wrong in words. Unknown codes fall back to the code itself, so a new validator never
breaks the page.
"""

from __future__ import annotations

REASON_TEXTS: dict[str, str] = {
    # routing
    "low_confidence": "読み取りの確信度が低い",
    "correction_mark": "訂正あり（二重線で消した値の横の新しい値を確認してください）",
    "alignment_uncertain": "帳票の位置合わせが不確か（この帳票のすべての項目を確認してください）",
    # banks and branches written as names (existing forms)
    "bank_name_unknown": "金融機関名が全銀の一覧にない",
    "bank_name_ambiguous": "金融機関名に当てはまる金融機関が複数ある",
    "bank_name_variant": "金融機関名が旧字・異体字で読まれた（候補を確認してください）",
    "branch_name_unknown": "その金融機関にこの支店名がない",
    "branch_name_ambiguous": "支店名に当てはまる支店が複数ある",
    "branch_name_variant": "支店名が旧字・異体字で読まれた（候補を確認してください）",
    "bank_name_nearest": "一覧で最も近い金融機関名",
    "bank_name_everyday_form": "一覧の表記（新字体）の金融機関名",
    "branch_name_nearest": "一覧で最も近い支店名",
    "branch_name_everyday_form": "一覧の表記（新字体）の支店名",
    "required": "必須項目が空欄",
    # review
    "not_settled": "確認されていない（値を確認・修正するか保留にしてください）",
    "suggestion_source_changed": "候補の元になった項目が変わりました（値を入力し直してください）",
    "unknown_field": "この帳票にない項目",
    "illegible": "判読不能（保留）",
    "needs_inquiry": "要問合せ（保留）",
    "not_written": "記入なし（保留）",
    "document_not_pending": "この帳票は確認待ちではありません",
    # digits, amounts
    "not_digits": "数字以外の文字がある",
    "wrong_length": "桁数が違う",
    "leading_zero": "先頭が0になっている",
    "amount_leading_zero": "金額の先頭が0になっている",
    "amount_out_of_range": "金額が範囲外",
    "amount_unusual": "金額が通常より大きい（確認してください）",
    "household_size_out_of_range": "世帯人数が範囲外",
    # My Number
    "my_number_check_digit": "個人番号のチェックデジットが合わない",
    "my_number_format": "個人番号は12桁の数字",
    # the scan
    "scanner_streak": "スキャナの筋が項目を横切っていた（筋を消して読んだので確認してください）",
    # Corporate Number
    "corporate_number_check_digit": "法人番号のチェックデジット（先頭の数字）が合わない",
    "corporate_number_format": "法人番号は13桁の数字（個人の場合は個人番号12桁）",
    # amounts over several fields, choices
    "amount_exceeds_limit": "金額が上限となる欄の金額を超えている（どちらかの読み違いの可能性）",
    "same_choice_twice": "同じ選択肢が複数の希望欄で選ばれている",
    "address_number_run": "住所に5桁以上の数字が続いている（番地のハイフンの読み落としの可能性）",
    # names
    "kanji_variant": "旧字体・異体字がある（本人の書いた字体か確認してください）",
    # dates
    "date_invalid": "日付として読めない",
    "date_not_real": "存在しない日付（例：2月30日）",
    "date_in_future": "未来の日付",
    "date_too_old": "日付が古すぎる",
    "date_implausibly_old": "ありえないほど古い日付",
    "date_out_of_range": "日付が受付期間外",
    "date_not_after_record": "日付の前後関係が合わない",
    "date_before_window": "日付が期間の前",
    "date_after_window": "日付が期間の後",
    "date_iso": "日付を西暦に直した候補",
    "date_not_normalised": "日付が西暦（年-月-日）の形になっていない",
    "era_year_out_of_range": "元号の年がその元号の範囲外（例：平成32年）",
    "era_corrected": "元号を直した日付の候補",
    # phone
    "phone_format": "電話番号の形式が違う",
    "phone_hyphenation": "電話番号の区切りが番号体系と合わない",
    "phone_invalid": "存在しない電話番号",
    # address and postal code
    "postal_code_format": "郵便番号は7桁の数字",
    "postal_code_unknown": "存在しない郵便番号",
    "postal_code_address_mismatch": "郵便番号と住所が合わない",
    "postal_code_address_prefix": "郵便番号から住所の候補",
    "address_not_found": "住所が見つからない",
    "address_no_block_number": "番地がない",
    "address_suspicious_characters": "住所に不自然な文字がある",
    "address_ocr_confusion": "住所に読み違いらしい文字がある",
    "address_town_not_found": "町名が見つからない",
    "postal_code_from_address": "住所から郵便番号の候補",
    "postal_code_suggested": "郵便番号の候補",
    # bank
    "bank_code_format": "金融機関コードは4桁の数字",
    "bank_name_mismatch": "金融機関名とコードが合わない",
    "bank_code_unknown": "存在しない金融機関コード",
    "bank_branch_mismatch": "金融機関と支店が合わない",
    "bank_code_suggested": "金融機関コードの候補",
    "bank_name_suggested": "金融機関名の候補",
    "branch_code_suggested": "支店コードの候補",
    "bank_code_from_name": "金融機関名からコードの候補",
    "bank_name_from_code": "コードから金融機関名の候補",
    "branch_code_format": "支店コードは3桁の数字",
    "branch_code_unknown": "存在しない支店コード",
    "branch_name_mismatch": "支店名とコードが合わない",
    "branch_code_from_name": "支店名からコードの候補",
    "branch_name_from_code": "コードから支店名の候補",
    "account_holder_mismatch": "口座名義が氏名と合わない",
    "ocr_confusion_nearest_code": "読み違いを直した候補",
    # names and choices
    "not_katakana": "カタカナ以外の文字がある",
    "name_reading_mismatch": "氏名とフリガナが合わない",
    "none_ticked": "どれにもチェックがない",
    "several_ticked": "複数にチェックがある",
    "declaration_not_ticked": "申告欄にチェックがない",
}


def reason_text(code: str) -> str:
    """The Japanese text for ``code``; the code itself when no text is known."""
    return REASON_TEXTS.get(code, code)


def explain(codes: list[str]) -> list[dict[str, str]]:
    """``[{"code": ..., "text": ...}]`` for the page."""
    return [{"code": c, "text": reason_text(c)} for c in codes]


# Errors of the review server, for the clerk: what happened, what to do, and which button the
# page offers to do it ("lease_again": open the document again, keeping what was typed;
# "reconnect": try the request again; "login": load the page again (log in); "reload").
ERRORS: dict[str, tuple[str, str, str]] = {
    "lease_conflict": ("この帳票の作業権（貸出）が切れたか、他の確認者が開いています。"
                       "まだ保存されていません。",
                       "「もう一度開く」を押してから提出してください。入力した値は残ります。", "lease_again"),
    "not_leased": ("この帳票はこの画面で開かれていません。まだ保存されていません。",
                   "「もう一度開く」を押してから提出してください。入力した値は残ります。", "lease_again"),
    "open_in_other_window": ("この帳票は同じ確認者の別の画面（タブ）で開いています。",
                             "その画面で続けてください。この画面では「次の帳票へ」で別の帳票を開けます。",
                             "next"),
    "gate_missing": ("このバッチはもう確認待ちではありません（完了または削除済み）。",
                     "「読み込み直す」で確認待ちの一覧を開き直してください。", "reload"),
    "no_session": ("ログインが切れました（または別の画面でログインし直しました）。まだ保存されていません。",
                   "「ログインし直す」を押してください。開けないときは確認コマンドをもう一度起動し、表示されたリンクを開いてください。",
                   "login"),
    "network": ("確認サーバーに接続できません。まだ保存されていません。",
                "確認コマンドが動いていることを確かめて「再接続」を押してください。", "reconnect"),
    # roles and logins (docs/review.md, "Who may review")
    "not_allowed": ("この操作をする権限（役割）がありません。まだ保存されていません。",
                    "確認には reviewer の役割が必要です。ベリファイ担当の方は"
                    "ベリファイの画面（/verify）を使ってください。役割が必要なときは管理者に申請してください。",
                    "close"),
    "number_viewer_required": ("個人番号を表示する権限（番号閲覧者 number_viewer）がありません。"
                               "表示していません。",
                    "個人番号の確認が必要なときは、番号閲覧者の権限を持つ職員に依頼するか、管理者に権限を"
                    "申請してください。ほかの項目の確認はこのまま続けられます。", "close"),
    "purpose_required": ("個人番号を表示する目的が選ばれていません。表示していません。",
                         "一覧から目的を選んでから、もう一度 F8 を押してください。", "close"),
    "login_required": ("ログインしていません。まだ保存されていません。",
                       "「ログインし直す」を押して、名前とパスフレーズでログインしてください。", "login"),
    "login_failed": ("名前またはパスフレーズが違います。",
                     "入力し直してください。5回続けて間違えると、しばらくログインできなくなります。", "none"),
    "login_locked": ("ログインの失敗が続いたため、しばらくログインできません。",
                     "数分待ってからログインしてください。パスフレーズを忘れたときは管理者に"
                     "（yomitori users passwd で）設定し直してもらってください。", "none"),
    "internal_error": ("確認サーバーで問題が起きました。まだ保存されていません。",
                       "「再接続」でもう一度試してください。続くときは管理者に連絡してください。",
                       "reconnect"),
}
_OTHER_ERROR = ("処理できませんでした。まだ保存されていません。",
                "「読み込み直す」で画面を開き直してください。", "reload")


def error_view(code: str) -> dict[str, str]:
    """``{"message_ja", "action_ja", "next"}`` for an error code (any code gets an answer)."""
    message, action, nxt = ERRORS.get(code, _OTHER_ERROR)
    return {"message_ja": message, "action_ja": action, "next": nxt}
