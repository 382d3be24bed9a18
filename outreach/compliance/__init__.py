"""The monthly compliance report a 個人情報保護管理者 signs off."""
