DROP TABLE device_tokens;
DROP TABLE recovery_codes;
DROP TABLE user_totp;
