"""The web app's words in Japanese and English, and which language a request gets.

The person's browser picks (``Accept-Language``); the switch on every page sets a cookie
that overrides it. Claim names come from :mod:`holder_app.claim_text`, shared with the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LANGUAGES", "TEXTS", "choose_language", "reason_text", "translator"]

LANGUAGES = ("ja", "en")

#: key -> (Japanese, English)
TEXTS: Mapping[str, tuple[str, str]] = {
    "app_name": ("あかし ウォレット", "akashi wallet"),
    "switch_language": ("English", "日本語"),
    "unlock_title": ("ウォレットを開く", "Unlock your wallet"),
    "create_title": ("ウォレットを作る", "Create your wallet"),
    "create_help": (
        "このウォレットを開くためのパスフレーズを決めてください。忘れると開けません。",
        "Choose the passphrase that will open this wallet. Without it, nobody can open it — not even you.",
    ),
    "passphrase_again": ("もう一度パスフレーズ", "The same passphrase again"),
    "passphrase_rules": (
        "10文字以上で、2回とも同じパスフレーズを入力してください。",
        "Use at least 10 characters, the same twice.",
    ),
    "create": ("作る", "Create"),
    "kit_title": ("復旧キット", "Your recovery kit"),
    "kit_help": (
        "紙に書き写すか印刷して、オフラインで保管してください。スマートフォンを失くしたとき、"
        "バックアップとこのキットでウォレットを取り戻せます。ウォレットはこのキットを保存しません。"
        "この画面はもう表示されません。",
        "Write it down or print it, and keep it offline. With it and a backup you can take your "
        "wallet back if you lose this phone. The wallet does not keep it, and will not show it again.",
    ),
    "your_did": ("あなたの識別子", "Your identifier"),
    "kit_done": ("書き写しました", "I have written it down"),
    "passphrase": ("パスフレーズ", "Passphrase"),
    "unlock": ("開く", "Unlock"),
    "wrong_passphrase": ("パスフレーズが違います。", "That passphrase does not open this wallet."),
    "locked_idle": (
        "しばらく操作がなかったため、ウォレットを閉じました。",
        "Your wallet was locked after a while without use.",
    ),
    "locked": ("ウォレットを閉じました。", "Your wallet is locked."),
    "lock": ("閉じる", "Lock"),
    "nav_credentials": ("証明書", "Credentials"),
    "nav_receive": ("受け取る", "Receive"),
    "nav_present": ("提示する", "Share"),
    "nav_consents": ("同意", "Consents"),
    "nav_update": ("住所変更", "New address"),
    "nav_activity": ("履歴", "Activity"),
    "credentials_title": ("わたしの証明書", "My credentials"),
    "no_credentials": ("まだ証明書がありません。", "No credentials yet."),
    "kyc_credential": (
        "本人確認済みの証明 (犯罪収益移転防止法)",
        "Proof of verified identity (Japan AML act)",
    ),
    "licence_credential": ("運転免許の証明", "Driving licence"),
    "proves": ("証明できること", "What it proves"),
    "issuer": ("発行者", "Issuer"),
    "issued": ("発行日", "Issued"),
    "expires": ("有効期限", "Expires"),
    "status": ("状態", "Status"),
    "valid": ("有効", "Valid"),
    "expired": ("期限切れ", "Expired"),
    "copies_left": ("未使用のコピー", "Unused copies"),
    "receive_title": ("証明書を受け取る", "Receive a credential"),
    "receive_help": (
        "発行者の画面に表示されたQRコードを読み取るか、リンクを貼り付けてください。",
        "Scan the QR code the issuer shows you, or paste its link.",
    ),
    "offer": ("発行のリンク (openid-credential-offer://…)", "Offer link (openid-credential-offer://…)"),
    "tx_code": ("確認コード (求められた場合)", "Transaction code (if you were given one)"),
    "scan": ("カメラで読み取る", "Scan with the camera"),
    "scan_unavailable": (
        "このブラウザではカメラで読み取れません。リンクを貼り付けてください。",
        "This browser cannot scan; please paste the link.",
    ),
    "receive": ("受け取る", "Receive"),
    "received": ("受け取りました", "Received"),
    "present_title": ("事業者に提示する", "Share with a company"),
    "present_help": (
        "事業者の画面のQRコードを読み取るか、リンクを貼り付けてください。",
        "Scan the company's QR code, or paste its link.",
    ),
    "request_link": ("提示のリンク (openid4vp://…)", "Request link (openid4vp://…)"),
    "open_request": ("内容を確認する", "See what they ask"),
    "who_asks": ("依頼している事業者", "Who is asking"),
    "corporate_number": ("法人番号", "Corporate number"),
    "in_registry": (
        "事業者の名前と法人番号は、コンソーシアムの登録簿で確認しました。",
        "The name and corporate number come from the consortium's trust registry.",
    ),
    "purpose": ("利用目的", "Purpose"),
    "will_share": ("提供する情報", "What will be shared"),
    "will_not_share": ("提供しない情報", "What will NOT be shared"),
    "updates_allowed": (
        "今後の住所変更などを、この事業者に届けることに同意します。",
        "You agree that your future changes (e.g. your address) may be sent to this company.",
    ),
    "consent_days": ("同意の期間", "Consent lasts"),
    "days": ("日", "days"),
    "approve": ("同意して提供する", "Agree and share"),
    "refuse": ("提供しない", "Do not share"),
    "shared_with": ("提供しました", "Shared with"),
    "receipt_anchored": (
        "同意の記録が台帳に登録されました。",
        "Your consent receipt is recorded on the ledger.",
    ),
    "refused": ("提供しませんでした。", "Nothing was shared."),
    "consents_title": ("わたしの同意", "My consents"),
    "no_consents": ("まだ同意はありません。", "No consents yet."),
    "active": ("有効", "Active"),
    "revoked": ("撤回済み", "Revoked"),
    "revoke": ("同意を撤回する", "Withdraw consent"),
    "revoke_confirm": (
        "この同意を撤回しますか？台帳に記録され、すぐに有効になります。この事業者には今後の変更が届かなくなります。",
        "Withdraw this consent? It is recorded on the ledger and takes effect at once; this company "
        "will receive no further changes.",
    ),
    "revoke_yes": ("撤回する", "Withdraw"),
    "cancel": ("やめる", "Cancel"),
    "revoked_done": ("同意を撤回しました。", "Consent withdrawn."),
    "granted": ("同意日", "Given"),
    "shared": ("提供した情報", "Shared"),
    "update_title": ("住所を変更する", "Update my address"),
    "new_address": ("新しい住所", "New address"),
    "effective": ("変更日", "Takes effect on"),
    "see_recipients": ("送り先を確認する", "See who will receive it"),
    "will_receive": ("届く事業者", "Will receive it"),
    "will_not_receive": ("届かない事業者", "Will NOT receive it"),
    "nobody": ("届け先がありません。", "Nobody will receive it."),
    "send": ("送る", "Send"),
    "activity_title": ("履歴", "Activity"),
    "updates_sent": ("送った変更", "Updates sent"),
    "no_updates": ("まだ変更を送っていません。", "No updates sent yet."),
    "st_sent": ("送信済み", "Sent"),
    "st_delivered": ("配達済み", "Delivered"),
    "st_applied": ("反映済み", "Applied"),
    "st_rejected": ("反映されませんでした", "Rejected"),
    "st_failed": ("送れませんでした", "Not sent"),
    "history": ("操作の記録", "What the wallet did"),
    "export": ("監査記録を書き出す", "Export my audit record"),
    "export_help": (
        "同意・提示・撤回・変更のすべてを、台帳の証明つきで書き出します (JSON Lines)。"
        "オフラインで検証できます。",
        "Every consent, presentation, withdrawal and update, each with its ledger proof (JSON Lines); "
        "it can be checked offline.",
    ),
    "error_title": ("できませんでした", "That did not work"),
    "log_issuance": ("受け取り", "received"),
    "log_presentation": ("提示", "shared"),
    "log_consent": ("同意", "consent"),
    "log_revocation": ("撤回", "withdrawn"),
    "log_update": ("変更の送信", "update sent"),
    "log_recovery": ("復旧", "recovery"),
    "log_rotation": ("鍵の更新", "key rotation"),
    "log_backup": ("バックアップ", "backup"),
    "log_restore": ("復元", "restore"),
    "out_completed": ("完了", "done"),
    "out_refused": ("断りました", "refused"),
    "out_failed": ("失敗", "failed"),
    "back": ("戻る", "Back"),
}


def translator(lang: str) -> Mapping[str, str]:
    """The words of ``lang`` by key."""
    column = 0 if lang == "ja" else 1
    return {key: pair[column] for key, pair in TEXTS.items()}


def choose_language(accept_language: str | None, cookie: str | None) -> str:
    """``ja`` or ``en``: the cookie set by the switch, else the first of the browser's
    languages we have, else Japanese."""
    if cookie in LANGUAGES:
        return str(cookie)
    for part in (accept_language or "").split(","):
        tag = part.split(";", 1)[0].strip().lower()
        if tag.split("-", 1)[0] in LANGUAGES:
            return tag.split("-", 1)[0]
    return "ja"


#: Why an operator will not receive an update (holder_app.updates.plan_update's reasons), in Japanese.
_REASONS_JA = (
    ("the consent is revoked", "同意を撤回しています"),
    ("the consent is expired", "同意の期限が切れています"),
    ("the consent does not allow updates", "この同意には変更の受け取りが含まれていません"),
    ("the consent does not cover", "この事業者には住所を提供していません"),
    ("not asked", "今回は選ばれていません"),
)


def reason_text(reason: str, lang: str) -> str:
    """A reason the wallet engine gave (in English), in ``lang``; unknown ones as they are."""
    if lang == "ja":
        for start, japanese in _REASONS_JA:
            if reason.startswith(start):
                return japanese
    return reason
