DROP TABLE audit_tree;
DROP TABLE audit_pending;
