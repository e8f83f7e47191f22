"""Second factor: how each session authenticated (amr, auth_time), TOTP factors, recovery codes
and MFA tickets.

Revision ID: 0003_second_factor
Revises: 0002_account_lifecycle
Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_second_factor"
down_revision = "0002_account_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Sessions opened before this revision authenticated with a password, when they were created.
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("amr", sa.String(length=32), nullable=False, server_default="pwd")
        )
        batch_op.add_column(sa.Column("auth_time", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE sessions SET auth_time = created_at")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.alter_column("auth_time", existing_type=sa.DateTime(timezone=True), nullable=False)

    op.create_table(
        "second_factors",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_second_factors_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_second_factors")),
    )

    op.create_table(
        "recovery_codes",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_recovery_codes")),
    )
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.create_index("ix_recovery_codes_user_id", ["user_id"], unique=False)

    op.create_table(
        "mfa_tickets",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mfa_tickets_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_mfa_tickets")),
    )
    with op.batch_alter_table("mfa_tickets", schema=None) as batch_op:
        batch_op.create_index("ix_mfa_tickets_user_id", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mfa_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_mfa_tickets_user_id")
    op.drop_table("mfa_tickets")
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_recovery_codes_user_id")
    op.drop_table("recovery_codes")
    op.drop_table("second_factors")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("auth_time")
        batch_op.drop_column("amr")
