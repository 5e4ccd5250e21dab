DROP TABLE report_messages;
DROP TABLE report_tactics;
DROP TABLE report_keys;
DROP TABLE reports;
DROP TABLE stations;
