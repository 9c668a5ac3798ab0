-- One database per service (no service reads another's tables).
CREATE DATABASE identity ENCODING 'UTF8';
CREATE DATABASE learning ENCODING 'UTF8';
CREATE DATABASE records ENCODING 'UTF8';
CREATE DATABASE credentials ENCODING 'UTF8';
