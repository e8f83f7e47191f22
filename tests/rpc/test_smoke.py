from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD


async def test_register_login_refresh(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    reg = await s.stub.Register(pb.RegisterRequest(email=email, password=PASSWORD), metadata=s.md())
    assert reg.user_id
    tokens = await s.stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=s.md())
    assert tokens.access_token and tokens.refresh_token.startswith("idrt_")
    again = await s.stub.Refresh(
        pb.RefreshRequest(refresh_token=tokens.refresh_token), metadata=s.md()
    )
    assert again.refresh_token != tokens.refresh_token
