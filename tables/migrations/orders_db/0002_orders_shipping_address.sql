-- Where the order is delivered (OrderPlaced v2 carries shipping_address): one column per field,
-- so analysts can group by state or PIN code. NULL for orders placed before the checkout sent it.
-- utf8mb4 on purpose: names and streets come in every script (and a private MariaDB started with
-- --no-defaults is latin1, which would refuse them and stall the mirror on that row).
ALTER TABLE orders
    ADD COLUMN ship_name     VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL,
    ADD COLUMN ship_line     VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL,
    ADD COLUMN ship_city     VARCHAR(60)  CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL,
    ADD COLUMN ship_state    VARCHAR(60)  CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL,
    ADD COLUMN ship_pincode  CHAR(6)      NULL,
    ADD COLUMN ship_phone    VARCHAR(13)  NULL;
